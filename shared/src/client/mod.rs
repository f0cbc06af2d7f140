//! The MaxCompute service API and Tunnel client.
