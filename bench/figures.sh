# Sourced by the throughput benchmarks (bench/net.sh, bench/rdr.sh): the
# figures they read from iperf3 and the ratios and medians they print.

# iperf3's JSON report on stdin: the receiver's Gbit/s.
gbits() { python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))'; }
# $1 / $2, to three places.
ratio() { python3 -c "print('%.3f' % ($1 / $2))"; }
# The median of the arguments, to three places.
median() { python3 -c "import statistics,sys; print('%.3f' % statistics.median(map(float, sys.argv[1:])))" "$@"; }
