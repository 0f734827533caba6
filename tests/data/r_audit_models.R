## Reference numbers for tests/test_audit_models.py, from R's survey package (4.1-1).
## Run from the repository root:  Rscript tests/data/r_audit_models.R > tests/data/r_audit_models.json
## Each case stores its R code and the numbers it produced, at full double precision.
suppressPackageStartupMessages({library(survey); library(jsonlite)})
data(api)
dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
pop.totals <- c(`(Intercept)` = 6194, stypeH = 755, stypeM = 1018, api99 = sum(apipop$api99))
dcal <- calibrate(dclus1, ~stype + api99, pop.totals)
dps <- postStratify(dclus1, ~stype, data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018)))
glm_out <- function(m) list(names = names(coef(m)), coef = unname(coef(m)), se = unname(SE(m)),
                            df_resid = m$df.residual)
cases <- list()
add <- function(id, code, fn) {
  res <- suppressWarnings(eval(parse(text = code)))
  out <- fn(res)
  out$id <- id
  out$r_code <- code
  cases[[length(cases) + 1]] <<- out
}
## a subset of a calibrated design keeps every row (weight 0 outside): svyglm rescales the
## weights by their mean over all rows, which moves the binomial start and the stopping rule
add("glm_qbin_dcal_subset", "svyglm(sch.wide ~ ell + meals, subset(dcal, stype != \"H\"), family = quasibinomial())", glm_out)
add("glm_bin_dps_subset", "svyglm(sch.wide ~ ell + meals, subset(dps, stype != \"M\"), family = binomial())", glm_out)
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
## scale(x) is centred and divided by sd(x) (divisor n - 1)
add("glm_scale_dstrat", "svyglm(api00 ~ scale(ell) + meals + stype, dstrat)", glm_out)
## a subset of a PPS design keeps every row (weight 0 outside) as a calibrated one does: svyglm's weight
## scale and svychisq's row count N and df nu are those of all rows
ep <- read.csv("tests/data/election_pps.csv")
dbrewer <- svydesign(id = ~1, fpc = ~p, data = ep, pps = "brewer")
dbs <- svydesign(id = ~1, strata = ~half, fpc = ~p, data = ep, pps = "brewer")
add("glm_qbin_brewer_subset", "svyglm(bushwin ~ log(votes), subset(dbrewer, big == \"yes\"), family = quasibinomial())", glm_out)
chi <- function(r) list(statistic = as.numeric(r$statistic), parameter = as.numeric(r$parameter), p = as.numeric(r$p.value))
for (st in c("F", "Chisq", "Wald", "adjWald")) {
  add(paste0("chisq_", st, "_brewer_subset"), sprintf("svychisq(~big + bushwin, subset(dbrewer, votes > 20000), statistic = \"%s\")", st), chi)
  add(paste0("chisq_", st, "_brewer_strat_subset"), sprintf("svychisq(~big + bushwin, subset(dbs, votes > 20000), statistic = \"%s\")", st), chi)
}
cat(toJSON(cases, auto_unbox = TRUE, digits = NA, pretty = TRUE))
