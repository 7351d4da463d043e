//! block (to be written)
