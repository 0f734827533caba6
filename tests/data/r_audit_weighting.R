# R numbers for tests/test_audit_weighting.py (R 4.2.2, survey 4.1-1):
#   Rscript tests/data/r_audit_weighting.R tests/data/audit_weighting.csv tests/data/r_audit_weighting.json
# Bounded raking calibration that R's default maxit = 50 cannot reach (its
# Newton steps use exp(u) for factors already clipped at the upper bound);
# with maxit = 200 R converges, to the weights the library now reaches in 4 steps.
suppressMessages(library(survey)); library(jsonlite)
args <- commandArgs(TRUE)
s <- read.csv(args[1]); s$a <- factor(s$a); s$b <- factor(s$b)
d <- svydesign(id = ~psu, strata = ~h, fpc = ~N, weights = ~w, data = s)
pop <- c("(Intercept)" = 6000, aB = 2107, aC = 1227, by = 2712, x = 39333.849)
fail50 <- tryCatch({calibrate(d, ~a + b + x, pop, calfun = "raking", bounds = c(0.6, 1.6)); "converged"},
                   warning = function(w) conditionMessage(w))
dd <- calibrate(d, ~a + b + x, pop, calfun = "raking", bounds = c(0.6, 1.6), maxit = 200, epsilon = 1e-10)
m <- svymean(~y, dd); t <- svytotal(~y, dd); b <- svyby(~y, ~z, dd, svymean)
out <- list(r_maxit50 = fail50, weights = unname(weights(dd)), mean = unname(coef(m)), se_mean = as.vector(SE(m)),
            total = unname(coef(t)), se_total = as.vector(SE(t)), dom = unname(coef(b)), se_dom = as.vector(SE(b)))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), args[2])

# Unbounded raking of weights 50 times too small (sum(w) near n, controls population
# counts): R's grake rescales the weights by the mean control/total ratio first
d50 <- svydesign(id = ~psu, strata = ~h, fpc = ~N, weights = ~I(w / 50), data = s)
dd <- calibrate(d50, ~a + b + x, pop, calfun = "raking", epsilon = 1e-10)
m <- svymean(~y, dd); t <- svytotal(~y, dd)
out$rescaled <- list(weights = unname(weights(dd)), mean = unname(coef(m)), se_mean = as.vector(SE(m)),
                     total = unname(coef(t)), se_total = as.vector(SE(t)))

# Nearly collinear numeric auxiliaries (x2 = x + noise of 1e-6 mean(x)): R's regcalibrate
# solve()s the normal equations and its variance keeps all 5 columns (qr rank 5 at tol 1e-7)
Tx <- sum(s$w * s$x) * 1.05
pop2 <- c("(Intercept)" = 6000, aB = 2107, aC = 1227, x = Tx, x2 = Tx + sum(s$w * (s$x2 - s$x)) * 1.05)
out$near_totals <- unname(pop2[4:5])
for (m in c("linear", "raking")) {
  dd <- calibrate(d, ~a + x + x2, pop2, calfun = m, epsilon = 1e-10)
  mm <- svymean(~y, dd); tt <- svytotal(~y, dd)
  out[[paste0("near_", m)]] <- list(weights = unname(weights(dd)), se_mean = as.vector(SE(mm)),
                                    se_total = as.vector(SE(tt)), rank = qr(model.matrix(~a + x + x2, s) * sqrt(s$w))$rank)
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), args[2])
