//! From trigger events (the files in `events/`) to decoded records, rows and partitions.

mod debezium;
mod events;
mod partition;
mod props;
mod rows;
