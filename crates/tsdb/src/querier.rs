//! querier (to be written)
