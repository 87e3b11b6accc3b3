//! meishi-relay
