# shmlua's time per operation divided by Python's, C's, a Lua table's and an empty C
# metamethod's (log scale; below 1 means shmlua is faster). Called by bench/driver.lua: gnuplot -e "data='...'; out='...'; series='2 3'".
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
set key outside top center horizontal
set bmargin 7
set rmargin 8
# series: the data columns that hold numbers (the driver leaves out empty ones).
name(c) = c == 2 ? "shmlua / Python" : c == 3 ? "shmlua / C" : \
          c == 4 ? "shmlua / Lua table" : "shmlua / empty C __index"
plot for [i = 1:words(series)] data using int(word(series, i)):xtic(1) \
       title name(int(word(series, i))), \
     1 with lines lw 2 lc rgb "black" notitle
