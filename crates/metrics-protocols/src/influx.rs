//! influx (to be written)
