//! The audit: kiln's linter over every job's Jenkinsfile, grouped into one report (jobs
//! that run unchanged; per missing step, directive or option, the jobs that use it).
