pub mod evaluation;
