//! Hand-written sea-orm entities of the project tables (tenant database).

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod project {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "projects")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub title: String,
        pub kind: String,
        pub phase: String,
        /// "" while running, else `completed` / `discontinued`.
        pub outcome: String,
        pub start_date: String,
        pub end_date: String,
        pub background: String,
        pub purpose: String,
        pub effect_goal: String,
        /// JSON list of goals (with sub-goals).
        pub result_goals: String,
        /// JSON lists of strings.
        pub strategies: String,
        pub delimitations: String,
        pub prerequisites: String,
        /// JSON object of the organisation.
        pub organisation: String,
        pub owner_user: Option<String>,
        pub manager_user: Option<String>,
        /// JSON list of communication measures.
        pub communications: String,
        pub created_by: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
        pub version: i64,
    }

    no_relations!();
}

pub mod budget_line {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "project_budget_lines")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub project_id: String,
        pub position: i32,
        pub description: String,
        /// Whole hundredths.
        pub amount_centi: i64,
        pub currency: String,
        pub funder: String,
    }

    no_relations!();
}

pub mod link {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "project_links")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub project_id: String,
        /// The opportunity or question name.
        #[sea_orm(primary_key, auto_increment = false)]
        pub target: String,
        /// `opportunity` or `question`.
        pub kind: String,
        /// `tenants/{t}/evaluations/{e}`.
        pub evaluation: String,
    }

    no_relations!();
}

pub mod decision {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "project_decisions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub project_id: String,
        pub from_phase: String,
        pub to_phase: String,
        pub verdict: String,
        pub decision: String,
        pub decided_by: String,
        pub decided_at: DateTimeUtc,
    }

    no_relations!();
}

pub mod milestone {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "project_milestones")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub project_id: String,
        pub number: i32,
        pub title: String,
        pub description: String,
        pub due_date: String,
        pub responsible: String,
        pub status: String,
        pub version: i64,
    }

    no_relations!();
}

pub mod activity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "project_activities")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub project_id: String,
        pub milestone_id: String,
        pub position: i32,
        pub title: String,
        pub due_date: String,
        pub responsible: String,
        pub status: String,
        pub version: i64,
    }

    no_relations!();
}

pub mod risk {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "project_risks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub project_id: String,
        pub title: String,
        pub description: String,
        /// 1–3.
        pub probability: i32,
        /// 1–3.
        pub consequence: i32,
        /// JSON list of strings.
        pub mitigations: String,
        pub owner: String,
        pub version: i64,
    }

    no_relations!();
}

pub mod status_report {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "project_status_reports")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub project_id: String,
        pub author: String,
        pub created_at: DateTimeUtc,
        /// The report as filed (protobuf `StatusReport`), never rewritten.
        pub content: Vec<u8>,
    }

    no_relations!();
}
