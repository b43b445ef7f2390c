"""Command line of sftfusion: ``python -m sftfusion demo``."""

import argparse


def build_parser():
    """Return the argument parser of the ``sftfusion`` command."""
    parser = argparse.ArgumentParser(
        prog="python -m sftfusion",
        description="Softmax fusion of heterogeneous classifiers.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="compare members, soft voting and SFTClassifier with cross-validation",
        description=(
            "Fit a sequence Transformer and three classic models on scikit-learn's "
            "handwritten digits, and print the cross-validated accuracy, log-loss "
            "and fit time of each member, of soft voting and of SFTClassifier at "
            "three temperatures."
        ),
    )
    demo.add_argument(
        "--folds", type=int, default=5, help="number of CV folds (default: 5)"
    )
    return parser


def main(argv=None):
    """Run the command given in ``argv`` (default: the process arguments)."""
    args = build_parser().parse_args(argv)
    if args.folds < 2:
        raise SystemExit(f"--folds must be at least 2; got {args.folds}.")

    from sftfusion._demo import run_digits_demo

    run_digits_demo(n_splits=args.folds)


if __name__ == "__main__":
    main()
