//! The official example files, compiled into the crate (see `fixtures/azure/README.md` for
//! where each comes from).

use serde_json::Value;

/// `(relative path under fixtures/azure, file contents)` for every example file.
const FILES: &[(&str, &str)] = &[
    (
        "postgresql/BackupsAutomaticAndOnDemandListByServer.json",
        include_str!(
            "../../fixtures/azure/postgresql/BackupsAutomaticAndOnDemandListByServer.json"
        ),
    ),
    (
        "postgresql/BackupsAutomaticAndOnDemandGet.json",
        include_str!("../../fixtures/azure/postgresql/BackupsAutomaticAndOnDemandGet.json"),
    ),
    (
        "postgresql/BackupsAutomaticAndOnDemandCreate.json",
        include_str!("../../fixtures/azure/postgresql/BackupsAutomaticAndOnDemandCreate.json"),
    ),
    (
        "postgresql/BackupsAutomaticAndOnDemandDelete.json",
        include_str!("../../fixtures/azure/postgresql/BackupsAutomaticAndOnDemandDelete.json"),
    ),
    (
        "postgresql/ServersCreatePointInTimeRestore.json",
        include_str!("../../fixtures/azure/postgresql/ServersCreatePointInTimeRestore.json"),
    ),
    (
        "postgresql/ServersGet.json",
        include_str!("../../fixtures/azure/postgresql/ServersGet.json"),
    ),
    (
        "arm-lro/Long_running_operation_status_succeeded.json",
        include_str!("../../fixtures/azure/arm-lro/Long_running_operation_status_succeeded.json"),
    ),
    (
        "arm-lro/OperationResults_Get.json",
        include_str!("../../fixtures/azure/arm-lro/OperationResults_Get.json"),
    ),
    (
        "arm-lro/Long_running_operation_result.json",
        include_str!("../../fixtures/azure/arm-lro/Long_running_operation_result.json"),
    ),
    (
        "monitor-query/query-post.json",
        include_str!("../../fixtures/azure/monitor-query/query-post.json"),
    ),
    (
        "monitor-query/oms-post-example.json",
        include_str!("../../fixtures/azure/monitor-query/oms-post-example.json"),
    ),
    (
        "keyvault/SetSecret-example.json",
        include_str!("../../fixtures/azure/keyvault/SetSecret-example.json"),
    ),
    (
        "keyvault/GetSecret-example.json",
        include_str!("../../fixtures/azure/keyvault/GetSecret-example.json"),
    ),
    (
        "postgresql/FirewallRulesCreateOrUpdate.json",
        include_str!("../../fixtures/azure/postgresql/FirewallRulesCreateOrUpdate.json"),
    ),
    (
        "postgresql/FirewallRulesDelete.json",
        include_str!("../../fixtures/azure/postgresql/FirewallRulesDelete.json"),
    ),
    (
        "postgresql/FirewallRulesGet.json",
        include_str!("../../fixtures/azure/postgresql/FirewallRulesGet.json"),
    ),
    (
        "postgresql/FirewallRulesListByServer.json",
        include_str!("../../fixtures/azure/postgresql/FirewallRulesListByServer.json"),
    ),
    (
        "postgresql/ServersUpdate.json",
        include_str!("../../fixtures/azure/postgresql/ServersUpdate.json"),
    ),
    (
        "postgresql/ConfigurationsGet.json",
        include_str!("../../fixtures/azure/postgresql/ConfigurationsGet.json"),
    ),
    (
        "postgresql/ConfigurationsUpdate.json",
        include_str!("../../fixtures/azure/postgresql/ConfigurationsUpdate.json"),
    ),
    (
        "postgresql/ConfigurationsUpdateUsingPut.json",
        include_str!("../../fixtures/azure/postgresql/ConfigurationsUpdateUsingPut.json"),
    ),
    (
        "dns/CreateOrUpdateARecordset.json",
        include_str!("../../fixtures/azure/dns/CreateOrUpdateARecordset.json"),
    ),
    (
        "dns/CreateOrUpdateCNAMERecordset.json",
        include_str!("../../fixtures/azure/dns/CreateOrUpdateCNAMERecordset.json"),
    ),
    (
        "dns/DeleteARecordset.json",
        include_str!("../../fixtures/azure/dns/DeleteARecordset.json"),
    ),
    (
        "dns/GetARecordset.json",
        include_str!("../../fixtures/azure/dns/GetARecordset.json"),
    ),
    (
        "dns/GetCNAMERecordset.json",
        include_str!("../../fixtures/azure/dns/GetCNAMERecordset.json"),
    ),
    (
        "dns/GetZone.json",
        include_str!("../../fixtures/azure/dns/GetZone.json"),
    ),
    (
        "monitor-activity-log/GetActivityLogsFiltered.json",
        include_str!("../../fixtures/azure/monitor-activity-log/GetActivityLogsFiltered.json"),
    ),
    (
        "keyvault/GetSecretVersions-example.json",
        include_str!("../../fixtures/azure/keyvault/GetSecretVersions-example.json"),
    ),
    (
        "keyvault/UpdateSecret-example.json",
        include_str!("../../fixtures/azure/keyvault/UpdateSecret-example.json"),
    ),
];

/// The parsed example file at `path` (relative to `fixtures/azure`, e.g.
/// `"postgresql/ServersGet.json"`), or `None` when there is no such file.
pub fn example(path: &str) -> Option<Value> {
    FILES
        .iter()
        .find(|(name, _)| *name == path)
        .and_then(|(_, text)| serde_json::from_str(text).ok())
}

/// `example(path)` then the JSON pointer `pointer`, or `Value::Null`.
pub(crate) fn at(path: &str, pointer: &str) -> Value {
    example(path)
        .and_then(|v| v.pointer(pointer).cloned())
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_parses() {
        for (name, _) in FILES {
            assert!(example(name).is_some(), "{name} does not parse");
        }
    }
}
