//! A Microsoft Entra ID token endpoint (`POST /{tenant}/oauth2/v2.0/token`) for the
//! client-credentials grant, with a client secret or a client assertion (certificate, workload
//! identity, Azure Pipelines), so that azure_identity's credentials run against the replay.

use super::state::{Incoming, Reply, State, query_param};
use serde_json::json;

impl State {
    pub(super) fn entra_token(&mut self, req: &Incoming<'_>) -> Reply {
        if req.method != "POST" {
            return Reply::arm_error(405, "MethodNotAllowed", "the token endpoint takes POST");
        }
        let form = String::from_utf8_lossy(req.body);
        let field = |name: &str| query_param(Some(&form), name);
        let error = |code: &str, description: &str| {
            Reply::json(
                400,
                &json!({"error": code, "error_description": description, "error_codes": [7000215]}),
            )
        };
        if field("grant_type").as_deref() != Some("client_credentials") {
            return error(
                "unsupported_grant_type",
                "AADSTS70003: only client_credentials is served.",
            );
        }
        if field("client_id").is_none_or(|c| c.is_empty()) {
            return error("invalid_request", "AADSTS900144: client_id is required.");
        }
        if field("scope").is_none_or(|s| !s.ends_with("/.default")) {
            return error(
                "invalid_scope",
                "AADSTS70011: the scope must end in /.default.",
            );
        }
        let secret = field("client_secret").filter(|s| !s.is_empty());
        let assertion = field("client_assertion").filter(|s| !s.is_empty());
        if secret.is_none() && assertion.is_none() {
            return error(
                "invalid_client",
                "AADSTS7000215: a client secret or assertion is required.",
            );
        }
        self.tokens_issued = self.tokens_issued.saturating_add(1);
        Reply::json(
            200,
            &json!({
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": format!("entra-token-{}", self.tokens_issued),
            }),
        )
    }
}
