"""Shared by the end-to-end scripts: records checks, prints each failure as it happens
and, at the end, the closing line "N passed, N failed" that CI reads."""


class Checks:
    def __init__(self, verbose=False):
        self.passed = 0
        self.failed = []
        self.verbose = verbose

    def __call__(self, cond, what):
        """Records one check; returns its truth so callers can branch on it."""
        if cond:
            self.passed += 1
            if self.verbose:
                print("ok   " + what, flush=True)
        else:
            self.failed.append(what)
            print("FAIL: " + what, flush=True)
        return bool(cond)

    def summary(self):
        """Prints the closing line and returns the exit status (0 when all passed)."""
        print(f"{self.passed} passed, {len(self.failed)} failed", flush=True)
        return 1 if self.failed else 0
