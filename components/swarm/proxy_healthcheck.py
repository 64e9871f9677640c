"""The mlstack proxy's Docker healthcheck (copied into the proxy image, run with its python3).

Exit 0 when nginx answers GET /healthz on its loopback health port (argv[1]), else 1. It checks
nginx only, never the models behind it: they have their own healthchecks, and a proxy marked
unhealthy because a model is down would be restarted for nothing.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request


def main(argv: list[str]) -> int:
    url = f"http://127.0.0.1:{argv[1]}/healthz"
    # No proxy: an HTTP(S)_PROXY in the environment must not intercept a loopback probe.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as error:
        print(f"healthcheck {url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
