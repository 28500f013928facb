//! `commander` takes credentials as people configure them: a `credential_process` profile and an
//! SSO profile are understood (the Lambda functions never need either).

use aws_config::profile::ProfileFileCredentialsProvider;
use aws_credential_types::provider::ProvideCredentials;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};

fn provider(config: &str, profile: &str) -> (ProfileFileCredentialsProvider, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    std::fs::write(&path, config).unwrap();
    let files = EnvConfigFiles::builder().with_file(EnvConfigFileKind::Config, &path).build();
    // As `commander` builds it: the suite's own HTTP client (the SSO provider calls AWS with it).
    let pool = shared::performance::Pools::default().get(shared::performance::Service::Aws);
    let conf = aws_config::provider_config::ProviderConfig::without_region()
        .with_http_client(shared::aws::pooled_http_client(pool));
    let provider = ProfileFileCredentialsProvider::builder()
        .configure(&conf)
        .profile_files(files)
        .profile_name(profile)
        .build();
    (provider, dir)
}

#[tokio::test]
async fn a_credential_process_profile_gives_its_credentials() {
    let process = r#"echo '{"Version": 1, "AccessKeyId": "AKIDFROMPROCESS", "SecretAccessKey": "secret"}'"#;
    let (provider, _dir) = provider(&format!("[profile ops]\ncredential_process = {process}\n"), "ops");
    let credentials = provider.provide_credentials().await.unwrap();
    assert_eq!(credentials.access_key_id(), "AKIDFROMPROCESS");
}

#[tokio::test]
async fn an_sso_profile_is_understood() {
    let config = "[profile sso]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Operator\n\
                  [sso-session corp]\nsso_region = us-east-1\nsso_start_url = https://corp.awsapps.com/start\n";
    let (provider, _dir) = provider(config, "sso");
    // No cached token here: the provider looks for one (a build without SSO support says so
    // instead), and asks for `aws sso login`.
    let error = format!("{:?}", provider.provide_credentials().await.unwrap_err());
    assert!(!error.to_lowercase().contains("feature"), "SSO support is compiled in: {error}");
    assert!(error.contains("token") || error.contains("sso"), "{error}");
}
