# Reference numbers for the three-stage design in tests/test_pps.py, from R survey 4.1.1.
# Run from the repository root:  Rscript tests/data/r_multistage.R
# Writes tests/data/threestage.csv (a synthetic three-stage sample) and tests/data/r_multistage.json.
suppressMessages({library(survey); library(jsonlite)})
set.seed(20261129)
rows <- list()
for (h in 1:3) for (i in 1:4) for (j in 1:3) {
  m <- 2 + (i + j + h) %% 3  # 2 to 4 elements per SSU
  rows[[length(rows) + 1]] <- data.frame(stratum = h, psu = i, ssu = j, elem = 1:m,
    N1 = 10 + 2 * h, N2 = 5 + i, N3 = m + 3 + j, y = round(rnorm(m, 50 + 5 * h + i, 8), 2),
    x = round(runif(m, 1, 5), 2), g = sample(c("a", "b"), m, replace = TRUE))
}
ts <- do.call(rbind, rows)
write.csv(ts, "tests/data/threestage.csv", row.names = FALSE)
d3 <- svydesign(id = ~psu + ssu + elem, strata = ~stratum, fpc = ~N1 + N2 + N3, data = ts, nest = TRUE)
num <- function(x) as.numeric(unclass(x))
st <- function(d) {
  t <- svytotal(~y, d); m <- svymean(~y, d); r <- svyratio(~y, ~x, d)
  b <- svyby(~y, ~g, d, svymean)
  list(weights = num(weights(d)), total = num(coef(t)), total_se = num(SE(t)), mean = num(coef(m)),
       mean_se = num(SE(m)), ratio_se = num(SE(r)), by_mean = num(coef(b)), by_mean_se = num(SE(b)), degf = degf(d))
}
writeLines(toJSON(list(three = st(d3)), digits = NA, auto_unbox = TRUE, pretty = TRUE),
           "tests/data/r_multistage.json")
