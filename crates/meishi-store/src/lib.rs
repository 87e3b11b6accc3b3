//! meishi-store
