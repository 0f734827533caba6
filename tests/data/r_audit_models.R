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
cat(toJSON(cases, auto_unbox = TRUE, digits = NA, pretty = TRUE))
