//! `dk rollback`: an environment back to the version before (or the one given), through a pull
//! request with the same approvals as a promotion.

use clap::Args;

use dk_gitops::branch::Kind;
use dk_gitops::names;
use dk_gitops::plan::{RollbackTo, rollback_to};
use dk_gitops::repo::values_path;
use dk_gitops::source;
use dk_gitops::values;

use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::promotion::artifact::{Artifact, artifact, files_of_digest};
use crate::promotion::report::{Request, promote};
use crate::promotion::{Session, TargetArgs, check_names, check_target, gitops_error};

/// Roll an environment back to the previous version (or the one given), through a pull request
#[derive(Debug, Args)]
#[command(after_help = "\
The previous version comes from the history of the values file; the same approvals apply, and
the pull request is labelled rollback. Open promotions of the package to a newer version in the
same environment and cell would undo it: the rollback closes them, and says so.

Examples:
  dk rollback my-pkg --env prod
  dk rollback my-pkg --to v1.0.0 --env prod")]
pub struct RollbackArgs {
    /// The package
    pub package: String,
    /// The environment
    #[arg(long, value_name = "ENV")]
    pub env: String,
    /// The version to return to (default: the one before the current)
    #[arg(long = "to", value_name = "VERSION")]
    pub to: Option<String>,
    #[command(flatten)]
    pub target: TargetArgs,
}

pub fn run(args: RollbackArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    check_names(&[
        ("package", Some(&args.package)),
        ("environment", Some(&args.env)),
        ("version", args.to.as_ref()),
    ])?;
    check_target(&args.target)?;
    let session = Session::open(ctx)?;
    session.settings.environment(&args.env, "--env")?;
    let path = values_path(&args.env, &args.target.cell, &args.package);
    let history = session
        .wc
        .history(&path)
        .map_err(|err| gitops_error("cannot read the history of the GitOps repository", err))?;
    let request = |version| Request {
        kind: Kind::Rollback,
        package: &args.package,
        version,
        env: &args.env,
        registry: None,
        target: &args.target,
    };
    let (version, digest) = match rollback_to(&history, args.to.as_deref()) {
        RollbackTo::Ran { version, digest } => (version, digest),
        RollbackTo::NeverRan(wanted) => {
            let artifact = artifact(
                ctx,
                &session.settings,
                &args.package,
                &wanted,
                args.target.namespace.as_deref(),
                None,
            )?;
            return promote(ctx, &session, request(wanted), Some(artifact));
        }
        RollbackTo::NotDeployed => {
            return Err(CliError::usage(format!(
                "{} is not deployed in {} ({})",
                args.package, args.env, args.target.cell
            ))
            .hint(format!(
                "nothing to roll back: promote a version first (dk promote {} VERSION --to {}); dk status shows where it runs",
                args.package, args.env
            )));
        }
        RollbackTo::NoPrevious { current } => {
            return Err(CliError::usage(format!(
                "{} has run only {current} in {}: there is no previous version",
                args.package, args.env
            ))
            .hint(format!(
                "roll back to a version that was built with --to VERSION, or promote the one you want: dk promote {} VERSION --to {}",
                args.package, args.env
            )));
        }
    };
    // The version ran here: it returns from the registry and namespace the file names.
    let text = session
        .wc
        .read(&session.settings.base, &path)
        .map_err(|err| gitops_error("cannot read the GitOps repository", err))?
        .unwrap_or_default();
    let registry = values::field(&text, "registry").unwrap_or_else(|| source::LOCAL.into());
    let namespace = args
        .target
        .namespace
        .clone()
        .or_else(|| values::field(&text, "namespace"))
        .unwrap_or_else(|| "default".into());
    names::label("namespace", &namespace)
        .map_err(|err| gitops_error(&format!("bad namespace in {path}"), err))?;
    let files = files_of_digest(ctx, &digest);
    promote(
        ctx,
        &session,
        request(version),
        Some(Artifact {
            namespace,
            digest,
            registry,
            files,
        }),
    )
}
