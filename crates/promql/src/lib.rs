//! PromQL engine (to be written)
