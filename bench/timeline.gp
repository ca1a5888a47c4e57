# Plots of scripts/bench.sh. Variables (gnuplot -e): dir (raw files), outdir,
# nsw (switches), nerr (failed requests), vdat (variant table).
set terminal pngcairo size 1200,480 font ",10"
set key outside right top
set grid ytics
set style data steps

stats dir.'/sul.timeline.dat' using ($2+$3) nooutput
top = STATS_max * 1.08
set output outdir.'/bench-timeline.png'
set title sprintf("Switch under load: requests/s per workspace (100 ms buckets), %d switches through zdctl, %d failed requests", nsw, nerr)
set xlabel 'time since start (s)'
set ylabel 'requests/s'
set yrange [0:top*1.05]
plot dir.'/sul.timeline.dat' using 1:($2+$3) lc rgb 'black' lw 1.5 title 'total', \
     '' using 1:2 lc rgb '#1f5fd6' title 'blue', \
     '' using 1:3 lc rgb '#1a9a3a' title 'green', \
     dir.'/sul.switches.dat' using 1:(top) with points pt 1 ps 0.6 lc rgb '#888888' title 'switch (zdctl returned)', \
     dir.'/sul.errors.dat' using 1:2 with points pt 2 ps 1.5 lc rgb 'red' title 'failed request'

stats dir.'/sul.zoom.dat' using ($2+$3) nooutput
ztop = STATS_max * 1.08
set output outdir.'/bench-switch-zoom.png'
set title 'Zoom: 120 ms in the middle of the run, 1 ms buckets; dashed lines = zdctl switch returned (label = new workspace)'
set xlabel 'time since window start (s)'
set yrange [0:ztop*1.05]
plot dir.'/sul.zoom.dat' using 1:2 lc rgb '#1f5fd6' title 'blue', \
     '' using 1:3 lc rgb '#1a9a3a' title 'green', \
     dir.'/sul.zoomswitches.dat' using 1:(ztop):(0):(-ztop) with vectors nohead lc rgb '#888888' dt 2 title 'switch', \
     '' using 1:(ztop):2 with labels offset 0,0.6 notitle

set output outdir.'/bench-variants.png'
set terminal pngcairo size 1000,420 font ",10"
set title 'Median requests/s relative to direct (1.0 = as fast as connecting to nginx directly)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xlabel ''
set ylabel 'ratio to direct'
set yrange [0:*]
set xtics nomirror
plot vdat using 2:xtic(1) title 'short-lived (Connection: close)' lc rgb '#1f5fd6', \
     '' using 3 title 'keep-alive' lc rgb '#e08a1e'
