//! retention (to be written)
