//! Typed confirmation of destructive steps: the runbook's `ROLLBACK`, a server's name before a
//! restore. A token for automation, a prompt on a terminal, refused when neither is given.

use std::fmt;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The word a person must type to confirm a destructive step.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConfirmWord(String);

impl ConfirmWord {
    /// The runbook's word for a rollback ("Type: ROLLBACK").
    pub fn rollback() -> Self {
        Self("ROLLBACK".into())
    }

    /// Any other word: a server's or a namespace's name, `RESTORE`, `ROTATE`...
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty word or one with whitespace or control characters
    /// (it could not be typed back unambiguously).
    pub fn new(word: impl Into<String>) -> Result<Self> {
        let word = word.into();
        if word.is_empty() {
            return Err(Error::invalid("confirmation word", "must not be empty"));
        }
        if word.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::invalid(
                "confirmation word",
                "must not contain spaces or control characters",
            ));
        }
        Ok(Self(word))
    }

    /// The word.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ConfirmWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl fmt::Display for ConfirmWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What is to be confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfirmRequest {
    /// The procedure asking.
    pub procedure: String,
    /// The step's id.
    pub step: String,
    /// One line saying what will change and on what.
    pub summary: String,
    /// The word that confirms it.
    pub word: ConfirmWord,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "answer")]
pub enum Confirmation {
    /// Go ahead.
    Confirmed {
        /// How it was confirmed (`token`, `terminal`, or a caller's own description).
        by: String,
    },
    /// Do not act.
    Refused {
        /// Why.
        reason: String,
    },
}

impl Confirmation {
    /// Whether the step may run.
    pub fn is_confirmed(&self) -> bool {
        matches!(self, Confirmation::Confirmed { .. })
    }
}

/// Asks for confirmation of a destructive step.
#[cfg_attr(any(test, feature = "test-util"), mockall::automock)]
#[async_trait]
pub trait Confirm: Send + Sync {
    /// Confirms or refuses one step. Never acts.
    async fn confirm(&self, request: &ConfirmRequest) -> Confirmation;
}

/// Confirms a step when the token given up front (an automation flag such as `--confirm
/// ROLLBACK`) is exactly the step's word, and refuses otherwise.
#[derive(Clone)]
pub struct TokenConfirm {
    token: String,
}

impl fmt::Debug for TokenConfirm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenConfirm").finish_non_exhaustive()
    }
}

impl TokenConfirm {
    /// The token given by the caller.
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
        }
    }
}

#[async_trait]
impl Confirm for TokenConfirm {
    async fn confirm(&self, request: &ConfirmRequest) -> Confirmation {
        if self.token == request.word.as_str() {
            Confirmation::Confirmed { by: "token".into() }
        } else {
            Confirmation::Refused {
                reason: format!(
                    "the confirmation token does not match the word {} that step {} requires",
                    request.word, request.step
                ),
            }
        }
    }
}

/// Refuses every destructive step: the default when no token was given and there is no
/// terminal to ask on.
#[derive(Debug, Clone, Default)]
pub struct RefuseConfirm;

#[async_trait]
impl Confirm for RefuseConfirm {
    async fn confirm(&self, request: &ConfirmRequest) -> Confirmation {
        Confirmation::Refused {
            reason: format!(
                "no confirmation given: step {} needs the word {} (a confirmation token, or run on a terminal)",
                request.step, request.word
            ),
        }
    }
}

/// Asks on the terminal: writes the summary and `Type WORD to continue:` to standard error
/// and reads one line from standard input. Refuses when either is not a terminal.
///
/// This is the one type of the workspace that writes to the terminal; a binary chooses it
/// explicitly (libraries never print on their own).
#[derive(Debug, Clone, Default)]
pub struct TerminalConfirm;

impl TerminalConfirm {
    /// Whether standard input and standard error are both terminals.
    pub fn available() -> bool {
        std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
    }
}

#[async_trait]
impl Confirm for TerminalConfirm {
    async fn confirm(&self, request: &ConfirmRequest) -> Confirmation {
        if !Self::available() {
            return RefuseConfirm.confirm(request).await;
        }
        let prompt = format!(
            "{}\nThis step is destructive. Type {} to continue: ",
            request.summary, request.word
        );
        let word = request.word.clone();
        let answer = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
            let mut err = std::io::stderr().lock();
            err.write_all(prompt.as_bytes())?;
            err.flush()?;
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            Ok(line)
        })
        .await;
        match answer {
            Ok(Ok(line)) if line.trim_end_matches(['\r', '\n']) == word.as_str() => {
                Confirmation::Confirmed {
                    by: "terminal".into(),
                }
            }
            Ok(Ok(_)) => Confirmation::Refused {
                reason: format!("the word typed was not {word}"),
            },
            Ok(Err(e)) => Confirmation::Refused {
                reason: format!("could not read the answer: {e}"),
            },
            Err(e) => Confirmation::Refused {
                reason: format!("could not ask: {e}"),
            },
        }
    }
}

/// The confirmation a command-line tool should use: the token when one was given, else a
/// terminal prompt when there is a terminal, else refusal.
pub fn cli_confirm(token: Option<String>) -> Arc<dyn Confirm> {
    match token {
        Some(token) => Arc::new(TokenConfirm::new(token)),
        None if TerminalConfirm::available() => Arc::new(TerminalConfirm),
        None => Arc::new(RefuseConfirm),
    }
}
