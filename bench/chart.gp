# shmlua's time per operation divided by Python's, C's, a Lua table's and an empty C
# metamethod's (log scale; below 1 means shmlua is faster). Called by bench/driver.lua: gnuplot -e "data='...'; out='...'".
set terminal pngcairo size 1200,600 noenhanced
set output out
set title "shmlua time / other side's time, per operation (lower is better)"
set logscale y
set grid ytics
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics rotate by -35 nomirror
set ylabel "ratio (log)"
set key top left
plot data using 2:xtic(1) title "shmlua / Python", \
     '' using 3 title "shmlua / C", \
     '' using 4 title "shmlua / Lua table", \
     '' using 5 title "shmlua / empty C __index", \
     1 with lines lw 2 lc rgb "black" notitle
