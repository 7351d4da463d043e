//! Pure decoders (and test encoders) for the wire formats metrics arrive in.
//! No I/O here: each module turns bytes into model values.

pub mod exposition;
pub mod influx;
pub mod remote_write;
pub mod statsd;
