//! The role catalog the migrations seed.

pub const APP_ROLES: [&str; 6] = [
    "APP_ADMIN",
    "MANAGE_ALL_DATA",
    "REPORT_GENERATOR",
    "TEAM_ADMIN",
    "TEAM_DEVELOPER",
    "TEAM_USER",
];

pub const DATASET_ROLES: [&str; 5] = [
    "ANALYST",
    "LABELER",
    "LABELER_AND_REVIEWER",
    "MANAGER",
    "REVIEWER",
];
