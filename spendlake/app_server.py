"""Start the app's server with its heavy modules already imported: `python -m spendlake.app_server [streamlit options]`.

Streamlit runs every session's script inside the server process, so what the server imported
before it started is not imported again: the first page a person opens does not wait 1.5 s
for statsmodels (forecasts), 0.25 s for genai-prices' data, and the rest. `spendlake app` and
`./dev app` start it this way.
"""

from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app.py"


def main(argv: list[str]) -> None:
    import altair  # noqa: F401
    import pandas  # noqa: F401
    import statsmodels.tsa.exponential_smoothing.ets  # noqa: F401 - what analytics.forecast fits with

    from genai_prices import data_snapshot

    import analytics  # noqa: F401
    data_snapshot.get_snapshot()  # genai-prices' price data: 0.25 s to read, then kept
    from streamlit.web import cli
    sys.argv = ["streamlit", "run", str(APP), *argv]
    cli.main()


if __name__ == "__main__":
    main(sys.argv[1:])
