"""Command line of sftfusion: ``python -m sftfusion demo``."""

import argparse
import os


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
            "handwritten digits (or, with --text, MiniLM and TF-IDF models on "
            "labelled sentences), and print the cross-validated accuracy, "
            "log-loss, fit and predict time of each member, of soft voting and of "
            "SFTClassifier at three temperatures."
        ),
    )
    demo.add_argument(
        "--folds", type=int, default=5, help="number of CV folds (default: 5)"
    )
    demo.add_argument(
        "--text",
        metavar="PATH",
        help=(
            "run on labelled sentences instead: a file of 'sentence<TAB>label' "
            "lines, or a folder of the UCI Sentiment Labelled Sentences files; "
            'needs pip install "sftfusion[text]"'
        ),
    )
    demo.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="use a stratified random subset of N examples (default: all)",
    )
    demo.add_argument(
        "--learn",
        action="store_true",
        help=(
            "also score SFTClassifier with learned temperature, weights and pool "
            "(about one fit per member, fold and inner fold)"
        ),
    )
    demo.add_argument(
        "--learn-folds",
        type=int,
        default=5,
        metavar="K",
        help="number of inner CV folds of the learned fusion (default: 5)",
    )
    return parser


def main(argv=None):
    """Run the command given in ``argv`` (default: the process arguments)."""
    args = build_parser().parse_args(argv)
    if args.folds < 2:
        raise SystemExit(f"--folds must be at least 2; got {args.folds}.")
    if args.learn_folds < 2:
        raise SystemExit(f"--learn-folds must be at least 2; got {args.learn_folds}.")
    if args.limit is not None and args.limit < 2 * args.folds:
        raise SystemExit(
            f"--limit must be at least twice --folds ({2 * args.folds}); got "
            f"{args.limit}."
        )

    from sftfusion._demo import run_digits_demo, run_text_demo

    if args.text is None:
        run_digits_demo(
            n_splits=args.folds,
            learn=args.learn,
            learn_folds=args.learn_folds,
            limit=args.limit,
        )
        return
    if not os.path.exists(args.text):
        raise SystemExit(f"--text: no file or folder at {args.text!r}.")
    run_text_demo(
        args.text,
        n_splits=args.folds,
        learn=args.learn,
        learn_folds=args.learn_folds,
        limit=args.limit,
    )


if __name__ == "__main__":
    main()
