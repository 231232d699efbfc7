//! Configuration errors and warnings, worded as HAProxy words them.

use super::model::Location;

/// One thing wrong with a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file given with `-f` could not be read.
    #[error("Cannot open configuration file '{path}' : {source}")]
    Open {
        /// The path as given.
        path: String,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// A line is wrong.
    #[error("parsing [{location}] : {message}")]
    Parse {
        /// Where.
        location: Location,
        /// What, naming the keyword and section.
        message: String,
    },
}

/// Every error of a configuration, not only the first.
#[derive(Debug, thiserror::Error)]
#[error("{}", render(.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

fn render(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Something accepted that the user should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where, when a line is to blame.
    pub location: Option<Location>,
    /// What.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.location {
            Some(location) => write!(f, "parsing [{location}] : {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Collects errors and warnings while a configuration is read.
#[derive(Debug, Default)]
pub struct Diagnostics {
    /// Errors so far.
    pub errors: Vec<ConfigError>,
    /// Warnings so far.
    pub warnings: Vec<Warning>,
}

impl Diagnostics {
    /// Records an error at `location`.
    pub fn error(&mut self, location: &Location, message: impl Into<String>) {
        self.errors.push(ConfigError::Parse {
            location: location.clone(),
            message: message.into(),
        });
    }

    /// Records a warning at `location`.
    pub fn warn(&mut self, location: &Location, message: impl Into<String>) {
        self.warnings.push(Warning {
            location: Some(location.clone()),
            message: message.into(),
        });
    }
}
