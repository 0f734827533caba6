# R numbers for tests/test_audit_replicate.py (R 4.2.2, survey 4.1-1):
#   Rscript tests/data/r_audit_replicate.R tests/data/audit_replicate.csv tests/data/r_audit_replicate.json
suppressMessages(library(survey)); suppressMessages(library(jsonlite))
a <- commandArgs(TRUE)
df <- read.csv(a[1])
out <- list()
# JKn replicate weights: columns in R's order (strata by first appearance, then PSUs by first appearance)
no_lonely <- df[df$st != "d", ]
for (fpc in c(FALSE, TRUE)) {
  d <- if (fpc) svydesign(id = ~psu, strata = ~st, fpc = ~N, weights = ~w, data = no_lonely)
       else svydesign(id = ~psu, strata = ~st, weights = ~w, data = no_lonely)
  r <- as.svrepdesign(d, type = "JKn")
  nm <- if (fpc) "jkn_fpc" else "jkn"
  out[[nm]] <- list(W = as.vector(weights(r, "analysis")), R = ncol(weights(r, "analysis")), rscales = r$rscales)
}
options(survey.lonely.psu = "adjust")
r <- as.svrepdesign(svydesign(id = ~psu, strata = ~st, weights = ~w, data = df), type = "JKn")
out$jkn_adjust <- list(W = as.vector(weights(r, "analysis")), R = ncol(weights(r, "analysis")), rscales = r$rscales)
# logit intervals of domain proportions when a replicate holds none of the domain's cases (replicate p = 0):
# R refits the intercept, which runs off to about -30, giving (about 0, about 1)
options(survey.lonely.psu = "fail")
rj <- as.svrepdesign(svydesign(id = ~psu, strata = ~st, weights = ~w, data = no_lonely), type = "JKn")
for (mse in c(FALSE, TRUE)) {
  rj$mse <- mse
  b <- svyby(~I(z == 1), ~grp, rj, svyciprop, method = "logit", vartype = c("se", "ci"))
  out[[paste0("logit_zero_rep_mse", mse)]] <- list(estimate = coef(b), se = SE(b), ci_l = b$ci_l, ci_u = b$ci_u)
}
write_json(out, a[2], digits = NA)
