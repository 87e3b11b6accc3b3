//! meishi-node
