## Reference numbers for tests/test_models.py, tests/test_association.py and
## tests/test_vcov_contrast.py, from R's survey package (4.1-1).
## Run from the repository root:  Rscript tests/data/r_models.R > tests/data/r_models.json
## Each case stores its R code (run in an environment holding the designs below)
## and the numbers it produced, at full double precision.
suppressPackageStartupMessages({library(survey); library(jsonlite)})
data(api)
setup <- '
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
dclus2 <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2)
pop.totals <- c(`(Intercept)` = 6194, stypeH = 755, stypeM = 1018, api99 = sum(apipop$api99))
dcal <- calibrate(dclus1, ~stype + api99, pop.totals)
rclus1 <- as.svrepdesign(dclus1, type = "JK1")
rstrat <- as.svrepdesign(dstrat, type = "JKn")
'
env <- new.env()
eval(parse(text = setup), envir = env)

glm_out <- function(m) {
  s <- summary(m)$coefficients
  ci <- confint(m)
  list(names = rownames(s), coef = unname(s[, 1]), se = unname(s[, 2]), t = unname(s[, 3]), p = unname(s[, 4]),
       ci_low = unname(ci[, 1]), ci_high = unname(ci[, 2]), df_resid = m$df.residual,
       vcov = unname(vcov(m)))
}
cases <- list()
add <- function(id, code, fn) {
  message(id)
  res <- eval(parse(text = code), envir = env)
  out <- fn(res)
  out$id <- id
  out$r_code <- code
  cases[[length(cases) + 1]] <<- out
}

## ----------------------------------------------------------------- svyglm
fm <- list(
  gauss = "api00 ~ ell + meals + mobility + stype",
  qbin = "sch.wide ~ ell + meals + stype",
  qpois = "enroll ~ meals + stype"
)
fam <- list(gauss = "gaussian()", qbin = "quasibinomial()", qpois = "quasipoisson()")
for (d in c("dstrat", "dclus1", "dclus2", "dcal", "rclus1", "rstrat")) {
  for (k in names(fm)) {
    add(paste0("glm_", k, "_", d), sprintf("svyglm(%s, %s, family = %s)", fm[[k]], d, fam[[k]]), glm_out)
  }
}
add("glm_binomial_dclus1", "suppressWarnings(svyglm(sch.wide ~ ell + meals, dclus1, family = binomial()))", glm_out)
add("glm_poisson_dstrat", "suppressWarnings(svyglm(enroll ~ meals + stype, dstrat, family = poisson()))", glm_out)
add("glm_interaction_dstrat", "svyglm(api00 ~ ell * stype + meals, dstrat)", glm_out)
add("glm_na_dclus2", "svyglm(api00 ~ enroll + stype, dclus2)", glm_out)
add("glm_logical_dstrat", "svyglm(api00 ~ I(enroll > 500) + ell, dstrat)", glm_out)
add("glm_factors_dstrat", "svyglm(api00 ~ stype * sch.wide + ell, dstrat)", glm_out)
add("glm_nointercept_dclus1", "svyglm(api00 ~ 0 + stype + ell, dclus1)", glm_out)
add("glm_subset_dclus2_qpois", "svyglm(enroll ~ meals, dclus2, subset = sch.wide == \"Yes\", family = quasipoisson())", glm_out)
add("glm_subset_dclus1", "svyglm(api00 ~ ell + meals, dclus1, subset = stype == \"E\")", glm_out)
add("glm_subset_dstrat_qbin", "svyglm(sch.wide ~ ell + meals, dstrat, subset = stype != \"H\", family = quasibinomial())", glm_out)
add("glm_subset_rclus1", "svyglm(api00 ~ ell + meals, rclus1, subset = stype == \"E\")", glm_out)
add("glm_subset_dcal", "svyglm(api00 ~ ell + meals, dcal, subset = stype == \"E\")", glm_out)

## ------------------------------------------------------------ regTermTest
rtt <- function(r) list(F = as.numeric(r$Ftest), df = r$df, ddf = r$ddf, p = as.numeric(r$p))
add("rtt_stype_dstrat", "regTermTest(svyglm(api00 ~ ell + meals + mobility + stype, dstrat), ~stype)", rtt)
add("rtt_ellmeals_dclus1", "regTermTest(svyglm(sch.wide ~ ell + meals + stype, dclus1, family = quasibinomial()), ~ell + meals)", rtt)
add("rtt_stype_rclus1", "regTermTest(svyglm(api00 ~ ell + meals + mobility + stype, rclus1), ~stype)", rtt)
add("rtt_interaction_dstrat", "regTermTest(svyglm(api00 ~ ell * stype + meals, dstrat), ~ell:stype)", rtt)

## ---------------------------------------------------------------- predict
add("predict_qbin_dclus1",
    "predict(svyglm(sch.wide ~ ell + meals + stype, dclus1, family = quasibinomial()), newdata = data.frame(ell = c(10, 30, 50), meals = c(20, 50, 80), stype = c(\"E\", \"H\", \"M\")), type = \"response\")",
    function(p) list(fit = as.numeric(coef(p)), se = as.numeric(SE(p))))
add("predict_gauss_dstrat_link",
    "predict(svyglm(api00 ~ ell + meals + mobility + stype, dstrat), newdata = data.frame(ell = c(10, 30), meals = c(20, 50), mobility = c(10, 20), stype = c(\"E\", \"M\")), type = \"link\")",
    function(p) list(fit = as.numeric(coef(p)), se = as.numeric(SE(p))))

## --------------------------------------------------------------- svychisq
chi <- function(r) list(statistic = as.numeric(r$statistic), parameter = as.numeric(r$parameter),
                        parameter_names = names(r$parameter), p = as.numeric(r$p.value))
for (d in c("dstrat", "dclus1", "dclus2", "dcal", "rclus1")) {
  for (st in c("F", "Chisq", "Wald", "adjWald")) {
    add(paste0("chisq_", st, "_", d), sprintf("svychisq(~sch.wide + stype, %s, statistic = \"%s\")", d, st), chi)
  }
}
for (st in c("F", "Chisq", "Wald", "adjWald")) {
  add(paste0("chisq_", st, "_dclus1_awards_both"), sprintf("svychisq(~awards + both, dclus1, statistic = \"%s\")", st), chi)
  add(paste0("chisq_", st, "_dclus1_subset"), sprintf("svychisq(~sch.wide + awards, subset(dclus1, stype != \"H\"), statistic = \"%s\")", st), chi)
  ## a calibrated design keeps all rows in a subset (weight 0 outside): N and nu count them all
  add(paste0("chisq_", st, "_dcal_subset"), sprintf("svychisq(~sch.wide + awards, subset(dcal, stype != \"H\"), statistic = \"%s\")", st), chi)
}

## --------------------------------------------------------------- svyttest
tt <- function(r) list(estimate = as.numeric(r$estimate), statistic = as.numeric(r$statistic),
                       df = as.numeric(r$parameter), p = as.numeric(r$p.value), ci = as.numeric(r$conf.int))
for (d in c("dstrat", "dclus1", "dclus2", "rclus1", "dcal")) {
  add(paste0("ttest_", d), sprintf("svyttest(api00 ~ sch.wide, %s)", d), tt)
}
add("ttest_dclus1_subset", "svyttest(api00 ~ awards, subset(dclus1, stype == \"E\"))", tt)

## --------------------------------------------------------------- svytable
tab <- function(r) list(values = as.numeric(r), dim = dim(r), dimnames = dimnames(r))
add("table_dclus1", "svytable(~sch.wide + stype, dclus1)", tab)
add("table_dstrat", "svytable(~stype, dstrat)", tab)
add("table_rclus1", "svytable(~awards + stype, rclus1)", tab)

## ------------------------------------------------ svyby covariance matrices
vc <- function(r) list(coef = as.numeric(coef(r)), names = names(coef(r)), vcov = unname(vcov(r)))
add("vcov_mean_dstrat", "svymean(~api00 + enroll, dstrat)", vc)
add("vcov_by_mean_dclus1", "svyby(~api00, ~stype, dclus1, svymean, covmat = TRUE)", vc)
add("vcov_by_mean2_dstrat", "svyby(~api00 + api99, ~stype, dstrat, svymean, covmat = TRUE)", vc)
add("vcov_by_total_dclus2", "svyby(~api00, ~stype, dclus2, svytotal, covmat = TRUE)", vc)
add("vcov_mean_dcal", "svymean(~api00 + enroll, dcal)", vc)  # svyby(covmat = TRUE) fails on calibrated designs in 4.1-1
add("vcov_by_mean_rclus1", "svyby(~api00 + api99, ~stype, rclus1, svymean, covmat = TRUE)", vc)
add("vcov_by_ratio_dstrat", "svyby(~api00, ~stype, denominator = ~api99, dstrat, svyratio, covmat = TRUE)", vc)

## ---------------------------------------------------------------- svycontrast
con <- function(r) list(coef = as.numeric(coef(r)), se = as.numeric(SE(r)), names = names(coef(r)), vcov = unname(vcov(r)))
add("contrast_linear_dclus1",
    "svycontrast(svyby(~api00, ~stype, dclus1, svymean, covmat = TRUE), list(EvH = c(1, -1, 0), avg = c(1/3, 1/3, 1/3)))", con)
add("contrast_nonlinear_dclus1", "svycontrast(svyby(~api00, ~stype, dclus1, svymean, covmat = TRUE), quote(M / E))", con)
add("contrast_linear_rclus1",
    "svycontrast(svyby(~api00 + api99, ~stype, rclus1, svymean, covmat = TRUE), c(1, 0, -1, 0, 0, 0))", con)
add("contrast_nonlinear_dstrat",
    "svycontrast(svymean(~api00 + api99, dstrat), quote(log(api00) - log(api99)))", con)

cat(toJSON(cases, auto_unbox = TRUE, digits = NA, pretty = TRUE))
