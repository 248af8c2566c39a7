"""``python -m ssl_pipelines [kedro run options]`` runs the Kedro project like ``kedro run``."""

import sys


def main() -> None:
    from kedro.framework.cli import main as kedro_main

    sys.argv = ["kedro", "run", *sys.argv[1:]]
    kedro_main()


if __name__ == "__main__":
    main()
