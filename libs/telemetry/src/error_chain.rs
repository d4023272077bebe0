//! [`error_chain`]: an error with all its sources on one line, for the single log line that
//! explains an internal failure (services log a cause chain once, where they map it to a status).

/// The error and its sources, joined with `": "`, outermost first.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot save task")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    #[error("transaction failed")]
    struct Middle(#[source] std::io::Error);

    #[test]
    fn every_source_is_listed_outermost_first() {
        let error = Outer(Middle(std::io::Error::other("disk full")));
        assert_eq!(
            error_chain(&error),
            "cannot save task: transaction failed: disk full"
        );
    }
}
