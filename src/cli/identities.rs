//! `classlink-operator identities import|list`: seed and inspect the platform's existing
//! users, for demos and migrations.

use std::process::ExitCode;

use super::{IdentitiesCommand, interrupt};
use crate::store::{NewIdentity, Store};

pub(super) async fn run(command: IdentitiesCommand) -> ExitCode {
    let (store_url, namespace) = match &command {
        IdentitiesCommand::Import {
            namespace, store, ..
        }
        | IdentitiesCommand::List { namespace, store } => (store.store.clone(), namespace.clone()),
    };
    // A bad file is reported before the store is touched.
    let people = match &command {
        IdentitiesCommand::Import { file, .. } => match read_csv(file) {
            Ok(people) => Some(people),
            Err(message) => return fail(&message),
        },
        IdentitiesCommand::List { .. } => None,
    };
    let store = match Store::open(&store_url).await {
        Ok(store) => store,
        Err(e) => return fail(&e.to_string()),
    };
    let work = async {
        match &people {
            Some(people) => import(&store, &namespace, people).await,
            None => list(&store, &namespace).await,
        }
    };
    let result = tokio::select! {
        result = work => result,
        signal = interrupt::interrupted() => {
            // The import's transaction rolled back with the dropped work.
            let what = if people.is_some() { "; nothing was imported" } else { "" };
            eprintln!("error: stopped by {}{what}", signal.name());
            interrupt::cleanup_unless_interrupted_again(signal, super::close_store(store)).await;
            return signal.exit_code();
        }
    };
    super::close_store(store).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

async fn import(store: &Store, namespace: &str, people: &[NewIdentity]) -> Result<(), String> {
    let added = store
        .import_identities(namespace, people)
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

async fn list(store: &Store, namespace: &str) -> Result<(), String> {
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
