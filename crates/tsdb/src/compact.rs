//! compact (to be written)
