//! head (to be written)
