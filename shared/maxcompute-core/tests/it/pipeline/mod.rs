//! From trigger events (the files in `events/`) to decoded records, rows and partitions.

mod events;
mod partition;
mod props;
mod rows;
