"""soak_check.py — the checks at the end of the soak test (soak.sh).

soak_check.py state LOG DIR
    LOG is one writer's log of successful operations: "set KEY FILE"
    (KEY now holds FILE's content), "mv A B", "rm KEY". Replay it and
    require DIR (that writer's directory in the mount) to hold exactly
    the keys and contents the log says.
soak_check.py rss SAMPLES
    SAMPLES holds the daemon's VmRSS in kB, one sample a line. Require the
    growth from the second quarter of the run to the last to stay below
    max(16 MiB, a quarter of the second quarter's level): a daemon that
    keeps what it served grows linearly and fails.
Exits 1 with a message when a check fails."""
import os
import statistics
import sys


def expected_state(log):
    state = {}
    with open(log) as f:
        for line in f:
            op, *args = line.split()
            if op == "set":
                with open(args[1], "rb") as g:
                    state[args[0]] = g.read()
            elif op == "mv":
                state[args[1]] = state.pop(args[0])
            elif op == "rm":
                del state[args[0]]
    return state


def check_state(log, directory):
    want = expected_state(log)
    have = {}
    for name in os.listdir(directory):
        with open(os.path.join(directory, name), "rb") as f:
            have[name] = f.read()
    missing = sorted(set(want) - set(have))
    extra = sorted(set(have) - set(want))
    changed = sorted(k for k in set(want) & set(have) if want[k] != have[k])
    if missing or extra or changed:
        sys.exit("%s: lost %s, unexpected %s, wrong content %s"
                 % (directory, missing, extra, changed))


def check_rss(path):
    with open(path) as f:
        samples = [int(line) for line in f if line.strip()]
    if len(samples) < 8:
        sys.exit("only %d RSS samples" % len(samples))
    q = len(samples) // 4
    early = statistics.median(samples[q:2 * q])
    late = statistics.median(samples[3 * q:])
    allowed = max(16 * 1024, early / 4)
    print("daemon RSS: %d kB in the second quarter, %d kB in the last "
          "(max %d kB)" % (early, late, max(samples)))
    if late - early > allowed:
        sys.exit("the daemon's RSS grew by %d kB (allowed %d kB)"
                 % (late - early, allowed))


if sys.argv[1] == "state":
    check_state(sys.argv[2], sys.argv[3])
elif sys.argv[1] == "rss":
    check_rss(sys.argv[2])
else:
    sys.exit("usage: soak_check.py state LOG DIR | rss SAMPLES")
