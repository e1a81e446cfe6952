//! Storage statements that the query builder cannot say (see each module).

pub mod score;
