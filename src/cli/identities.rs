//! `classlink-operator identities import|list`: seed and inspect the platform's existing
//! users, for demos and migrations.

use std::process::ExitCode;

use super::IdentitiesCommand;
use crate::store::{NewIdentity, Store};

pub(super) async fn run(command: IdentitiesCommand) -> ExitCode {
    let result = match command {
        IdentitiesCommand::Import {
            namespace,
            file,
            store,
        } => import(&store.store, &namespace, &file).await,
        IdentitiesCommand::List { namespace, store } => list(&store.store, &namespace).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn import(store_url: &str, namespace: &str, file: &std::path::Path) -> Result<(), String> {
    let people = read_csv(file)?;
    let store = Store::open(store_url).await.map_err(|e| e.to_string())?;
    let added = store
        .import_identities(namespace, &people)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "imported {added} of {} users into namespace {namespace} ({} already present)",
        people.len(),
        people.len() - added
    );
    Ok(())
}

/// Reads `email,given_name,family_name,role` rows. Errors name the line, never its content.
fn read_csv(file: &std::path::Path) -> Result<Vec<NewIdentity>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(file)
        .map_err(|e| format!("reading {}: {e}", file.display()))?;
    let headers = reader
        .headers()
        .map_err(|e| format!("{}: {e}", file.display()))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let email = column("email")
        .ok_or_else(|| format!("{}: the header has no `email` column", file.display()))?;
    let (given, family, role) = (column("given_name"), column("family_name"), column("role"));
    let mut people = Vec::new();
    for (n, record) in reader.records().enumerate() {
        let line = n + 2;
        let record = record.map_err(|e| format!("{} line {line}: {e}", file.display()))?;
        let field = |i: Option<usize>| {
            i.and_then(|i| record.get(i))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let Some(address) = field(Some(email)) else {
            return Err(format!(
                "{} line {line}: the email is empty",
                file.display()
            ));
        };
        people.push(NewIdentity {
            email: address,
            given_name: field(given),
            family_name: field(family),
            role: field(role),
        });
    }
    Ok(people)
}

async fn list(store_url: &str, namespace: &str) -> Result<(), String> {
    let store = Store::open(store_url).await.map_err(|e| e.to_string())?;
    let identities = store
        .identities(namespace)
        .await
        .map_err(|e| e.to_string())?;
    // A closed pipe (`| head`) ends the listing quietly.
    let mut out = std::io::stdout().lock();
    let _ = write_listing(&mut out, namespace, &identities);
    Ok(())
}

fn write_listing(
    out: &mut impl std::io::Write,
    namespace: &str,
    identities: &[crate::engine::model::Identity],
) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<30}  {:<36}  {:<10}  {:<24}  SOURCE",
        "ID", "EMAIL", "ROLE", "NAME"
    )?;
    for i in identities {
        let name = [i.given_name.as_deref(), i.family_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        writeln!(
            out,
            "{:<30}  {:<36}  {:<10}  {:<24}  {}",
            i.id,
            i.email.as_deref().unwrap_or("-"),
            i.role.as_deref().unwrap_or("-"),
            name,
            i.source
        )?;
    }
    writeln!(out, "{} users in namespace {namespace}", identities.len())
}
