//! Routes of a subscription (reference §2.2): CEL rules over `event` tried in order, the
//! first match wins, `default` is a last rule that always matches, and an event no rule
//! matches is acknowledged and dropped.

use std::sync::Arc;

use serde_json::{Map, Value};
use todo_proto::dapr::proto::runtime::v1 as dapr;

/// A rule that failed to compile or to evaluate.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// The expression does not parse.
    #[error("invalid match expression {expression:?}: {reason}")]
    Compile {
        /// The CEL source.
        expression: String,
        /// The parser's message.
        reason: String,
    },
    /// The expression failed on this event (e.g. a missing field).
    #[error("cannot evaluate match expression {expression:?}: {reason}")]
    Evaluate {
        /// The CEL source.
        expression: String,
        /// The interpreter's message.
        reason: String,
    },
    /// The expression gave something other than a boolean.
    #[error("the result of match expression {0:?} was not a boolean")]
    NotBoolean(String),
}

struct Rule {
    /// `None` matches everything (the default route, or no routes at all).
    program: Option<(String, cel::Program)>,
    path: String,
}

/// The compiled routes of one subscription.
#[derive(Clone)]
pub struct Routes {
    rules: Arc<Vec<Rule>>,
    wire: Option<dapr::TopicRoutes>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Routes")
            .field("wire", &self.wire)
            .finish_non_exhaustive()
    }
}

impl Routes {
    /// Compiles the routes of a `TopicSubscription`.
    ///
    /// # Errors
    /// When a rule's expression does not compile (daprd refuses the subscription too).
    pub fn compile(routes: Option<&dapr::TopicRoutes>) -> Result<Self, RouteError> {
        let mut rules = Vec::new();
        if let Some(routes) = routes {
            for rule in &routes.rules {
                let program = if rule.r#match.trim().is_empty() {
                    None
                } else {
                    let program =
                        cel::Program::compile(&rule.r#match).map_err(|e| RouteError::Compile {
                            expression: rule.r#match.clone(),
                            reason: e.to_string(),
                        })?;
                    Some((rule.r#match.clone(), program))
                };
                rules.push(Rule {
                    program,
                    path: rule.path.clone(),
                });
            }
            if !routes.default.is_empty() {
                rules.push(Rule {
                    program: None,
                    path: routes.default.clone(),
                });
            }
        }
        if rules.is_empty() {
            // No routes, or empty rules and no default: one catch-all with path "".
            rules.push(Rule {
                program: None,
                path: String::new(),
            });
        }
        Ok(Self {
            rules: Arc::new(rules),
            wire: routes.cloned(),
        })
    }

    /// The path of the first rule `event` matches; `None` when none does (ack and drop).
    ///
    /// # Errors
    /// When an expression fails on this event; daprd treats that as a failed delivery.
    pub fn route(&self, event: &Map<String, Value>) -> Result<Option<&str>, RouteError> {
        let mut context: Option<cel::Context<'_, '_>> = None;
        for rule in self.rules.iter() {
            let Some((expression, program)) = &rule.program else {
                return Ok(Some(&rule.path));
            };
            let context = context.get_or_insert_with(|| {
                let mut context = cel::Context::default();
                context.add_variable_from_value("event", to_cel(&Value::Object(event.clone())));
                context
            });
            match program.execute(context) {
                Ok(cel::Value::Bool(true)) => return Ok(Some(&rule.path)),
                Ok(cel::Value::Bool(false)) => {}
                Ok(_) => return Err(RouteError::NotBoolean(expression.clone())),
                Err(error) => {
                    return Err(RouteError::Evaluate {
                        expression: expression.clone(),
                        reason: error.to_string(),
                    });
                }
            }
        }
        Ok(None)
    }

    /// The rules as `GetMetadata` lists them: the default as a rule without a match, and, as
    /// daprd adds it, one rule with neither match nor path when there would be none.
    pub fn metadata_rules(&self) -> Vec<dapr::PubsubSubscriptionRule> {
        let catch_all = || dapr::PubsubSubscriptionRule {
            r#match: String::new(),
            path: String::new(),
        };
        let Some(wire) = &self.wire else {
            return vec![catch_all()];
        };
        let mut rules: Vec<_> = wire
            .rules
            .iter()
            .map(|rule| dapr::PubsubSubscriptionRule {
                r#match: rule.r#match.clone(),
                path: rule.path.clone(),
            })
            .collect();
        if !wire.default.is_empty() {
            rules.push(dapr::PubsubSubscriptionRule {
                r#match: String::new(),
                path: wire.default.clone(),
            });
        }
        if rules.is_empty() {
            rules.push(catch_all());
        }
        rules
    }
}

/// JSON to CEL as daprd's Go sees it: numbers are `float64` (CEL compares them with ints).
fn to_cel(value: &Value) -> cel::Value {
    match value {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => cel::Value::Float(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(items) => cel::Value::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(map) => {
            let entries: std::collections::HashMap<cel::objects::Key, cel::Value> = map
                .iter()
                .map(|(k, v)| (cel::objects::Key::from(k.clone()), to_cel(v)))
                .collect();
            cel::Value::Map(cel::objects::Map {
                map: Arc::new(entries),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn routes(rules: &[(&str, &str)], default: &str) -> Routes {
        Routes::compile(Some(&dapr::TopicRoutes {
            rules: rules
                .iter()
                .map(|(m, p)| dapr::TopicRule {
                    r#match: (*m).into(),
                    path: (*p).into(),
                })
                .collect(),
            default: default.into(),
        }))
        .unwrap()
    }

    fn event(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("events are objects"),
        }
    }

    #[test]
    fn the_first_matching_rule_wins_and_the_default_catches_the_rest() {
        let routes = routes(
            &[
                (r#"event.type == "task.completed""#, "completed"),
                ("event.data.priority > 2", "urgent"),
                ("true", "never-reached-first"),
            ],
            "other",
        );
        let cases = [
            (
                "type rule",
                json!({"type": "task.completed", "data": {"priority": 9}}),
                "completed",
            ),
            (
                "numeric rule on json data",
                json!({"type": "x", "data": {"priority": 3}}),
                "urgent",
            ),
            (
                "falls through to true",
                json!({"type": "x", "data": {"priority": 1.5}}),
                "never-reached-first",
            ),
        ];
        for (case, value, path) in cases {
            assert_eq!(
                routes.route(&event(value)).unwrap(),
                Some(path),
                "case: {case}"
            );
        }
    }

    #[test]
    fn without_routes_everything_goes_to_the_empty_path() {
        let none = Routes::compile(None).unwrap();
        assert_eq!(none.route(&Map::new()).unwrap(), Some(""));
        let empty = routes(&[], "");
        assert_eq!(empty.route(&Map::new()).unwrap(), Some(""));
        let only_default = routes(&[], "fallback");
        assert_eq!(only_default.route(&Map::new()).unwrap(), Some("fallback"));
    }

    #[test]
    fn rules_without_a_default_drop_what_they_do_not_match() {
        let routes = routes(&[(r#"event.type == "a""#, "a")], "");
        assert_eq!(routes.route(&event(json!({"type": "b"}))).unwrap(), None);
    }

    #[test]
    fn bad_expressions_are_errors() {
        let compile = Routes::compile(Some(&dapr::TopicRoutes {
            rules: vec![dapr::TopicRule {
                r#match: "event.type ==".into(),
                path: "x".into(),
            }],
            default: String::new(),
        }));
        assert!(matches!(compile, Err(RouteError::Compile { .. })));
        let not_boolean = routes(&[("event.type", "x")], "");
        assert!(matches!(
            not_boolean.route(&event(json!({"type": "a"}))),
            Err(RouteError::NotBoolean(_))
        ));
        let missing_field = routes(&[("event.data.priority > 2", "x")], "");
        assert!(matches!(
            missing_field.route(&event(json!({"data": {}}))),
            Err(RouteError::Evaluate { .. })
        ));
    }
}
