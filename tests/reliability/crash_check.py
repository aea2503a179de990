"""crash_check.py DUMP PROGRESS... — after a crash, check that every value
is whole and is either the last content written to its key or the content
being written when the daemon died.
crash_check.py --same DUMP DIR — check that every file DIR/KEY holds the
value Deno read for KEY.

DUMP holds Deno's view of the store (dump.ts: one JSON line per entry).
Each PROGRESS file is one writer's log: "start KEY GEN" before a write,
"done KEY GEN" after it returned success. Values are written by
crash_value() in crash.sh: {"key", "gen", "pad"} with pad made of
"KEY:GEN " repeated, so a value mixed from two writes cannot pass.
Exits 1 with a message for the first broken rule."""
import json
import sys


def allowed_generations(progress_files):
    """For each key: the generations it may hold now."""
    allowed = {}
    for path in progress_files:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) != 3:
                    continue  # the writer was killed mid-line
                what, key, gen = parts[0], parts[1], int(parts[2])
                if what == "done":
                    allowed[key] = {gen}
                elif what == "start":
                    allowed.setdefault(key, {0}).add(gen)
    return allowed


def whole(key, value):
    if not isinstance(value, dict) or set(value) != {"key", "gen", "pad"}:
        return False
    unit = "%s:%d " % (value["key"], value["gen"])
    pad = value["pad"]
    return (value["key"] == key and len(pad) % len(unit) == 0 and
            pad == unit * (len(pad) // len(unit)))


def same(dump, directory):
    with open(dump) as f:
        for line in f:
            entry = json.loads(line)
            with open("%s/%s" % (directory, entry["key"])) as g:
                if json.load(g) != entry["value"]:
                    sys.exit("%s differs from what Deno reads"
                             % entry["key"])


def main():
    if sys.argv[1] == "--same":
        same(sys.argv[2], sys.argv[3])
        return
    allowed = allowed_generations(sys.argv[2:])
    seen = set()
    with open(sys.argv[1]) as f:
        for line in f:
            entry = json.loads(line)
            key, value = entry["key"], entry["value"]
            name = key[4:] if key.startswith("new-") else key
            if not whole(name, value):
                sys.exit("%s holds a mixed or foreign value: %.200r"
                         % (key, value))
            if key.startswith("new-"):
                continue  # a rename's source, left by the crash
            seen.add(key)
            if value["gen"] not in allowed.get(key, set()):
                sys.exit("%s holds generation %d; allowed: %s"
                         % (key, value["gen"],
                            sorted(allowed.get(key, set()))))
    for key, gens in allowed.items():
        if key not in seen and 0 not in gens:
            sys.exit("%s is missing; it held generation %s"
                     % (key, sorted(gens)))


main()
