//! MaxCompute request signing (v2, STS, v4) and credentials.
