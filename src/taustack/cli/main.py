"""The `taustack` root group and entry point: errors become exit codes; subcommands import what they use."""

from __future__ import annotations

import sys
import traceback

import click

from taustack import __version__
from taustack.cli import dataset, stack, tasks, tools, train
from taustack.cli import eval as eval_cli
from taustack.errors import EXIT_ERROR, TaustackError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="taustack")
@click.option("--debug", is_flag=True, help="show tracebacks")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Serve, measure and train open models for tool-calling agents."""
    ctx.obj = {"debug": debug}


for command in (stack.render, stack.up, stack.down, stack.status, stack.logs, stack.pull, stack.key, tools.model,
                stack.demo, tools.plan_command, tools.bench, tools.exporter, tools.schema, dataset.dataset,
                train.train, eval_cli.eval_group, tasks.tasks):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Entry point: TaustackError -> `Error: ...` with its exit code; tracebacks only with --debug."""
    args = sys.argv[1:] if argv is None else argv
    try:
        cli.main(args=args, prog_name="taustack", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_ERROR)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except TaustackError as exc:
        if "--debug" in args:
            traceback.print_exc()
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug: one line, the traceback only when asked for
        if "--debug" in args:
            traceback.print_exc()
        click.echo(f"Error: internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
                   err=True)
        sys.exit(EXIT_ERROR)
