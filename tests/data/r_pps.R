# Reference numbers for tests/test_pps.py, from R survey 4.1.1: PPS without replacement and probs=
# (estimates, SEs, covariance matrices, contrasts and svyglm coefficients).
# Run from the repository root:  Rscript tests/data/r_pps.R
# Writes tests/data/election_pps.csv, tests/data/election_jointprob.csv and tests/data/r_pps.json.
suppressMessages({library(survey); library(jsonlite)})
data(election)
ep <- election_pps
ep$County <- as.character(ep$County)
ep$big <- ifelse(ep$TotPrecincts > 100, "yes", "no")
ep$bushwin <- as.integer(ep$Bush > ep$Kerry)
ep$half <- rep(1:2, 20)
write.csv(ep, "tests/data/election_pps.csv", row.names = FALSE)
write.csv(election_jointprob, "tests/data/election_jointprob.csv", row.names = FALSE)

num <- function(x) as.numeric(unclass(x))
stats <- function(d) {
  t <- svytotal(~Bush + Kerry, d)
  m <- svymean(~Bush, d)
  r <- svyratio(~Bush, ~Kerry, d)
  p <- svymean(~bushwin, d)
  bt <- svyby(~Bush, ~big, d, svytotal)
  bm <- svyby(~Bush, ~big, d, svymean)
  br <- svyby(~Bush, ~big, d, svyratio, denominator = ~Kerry)
  # covariances: vcov of two totals, a contrast of them, a contrast of domain means, a model's coefficients
  ct <- svycontrast(t, c(1, -1))
  # The contrast of two domain means: svyby(covmat = TRUE) fails for Brewer's designs and sets the
  # cross-domain covariances of the other PPS designs to 0, so its SE is taken from the total of the
  # contrast's linearised values (z = (y - m_no) / N_no in domain "no", -(y - m_yes) / N_yes in "yes").
  mb <- coef(bm)
  nb <- coef(svyby(~one, ~big, update(d, one = 1), svytotal))
  mf <- model.frame(d)
  z <- ifelse(mf$big == "no", (mf$Bush - mb[["no"]]) / nb[["no"]], -(mf$Bush - mb[["yes"]]) / nb[["yes"]])
  cz <- svytotal(~z, update(d, z = z))
  g <- svyglm(Bush ~ votes, d)
  chi <- svychisq(~big + bushwin, d)
  list(vcov_total = num(vcov(t)), contrast = num(coef(ct)), contrast_se = num(SE(ct)),
       by_contrast = mb[["no"]] - mb[["yes"]], by_contrast_se = num(SE(cz)),
       glm = num(coef(g)), glm_se = num(SE(g)),
       chisq_f = num(chi$statistic), chisq_ndf = num(chi$parameter[["ndf"]]), chisq_ddf = num(chi$parameter[["ddf"]]),
       chisq_p = num(chi$p.value),
       total = num(coef(t)), total_se = num(SE(t)), mean = num(coef(m)), mean_se = num(SE(m)),
       ratio = num(coef(r)), ratio_se = num(SE(r)), prop = num(coef(p)), prop_se = num(SE(p)),
       by_total = num(coef(bt)), by_total_se = num(SE(bt)), by_mean = num(coef(bm)), by_mean_se = num(SE(bm)),
       by_ratio = num(coef(br)), by_ratio_se = num(SE(br)), degf = degf(d))
}
cal_totals <- colSums(model.matrix(~votes, election))
out <- list(
  brewer = stats(svydesign(id = ~1, fpc = ~p, data = ep, pps = "brewer")),
  overton = stats(svydesign(id = ~1, fpc = ~p, data = ep, pps = "overton")),
  hartley_rao = stats(svydesign(id = ~1, fpc = ~p, data = ep, pps = HR())),
  hartley_rao_p2 = stats(svydesign(id = ~1, fpc = ~p, data = ep, pps = HR(sum(election$p^2) / 40))),
  ht = stats(svydesign(id = ~1, fpc = ~p, data = ep, pps = ppsmat(election_jointprob))),
  yg = stats(svydesign(id = ~1, fpc = ~p, data = ep, pps = ppsmat(election_jointprob), variance = "YG")),
  brewer_strat = stats(svydesign(id = ~1, strata = ~half, fpc = ~p, data = ep, pps = "brewer")),
  overton_strat = stats(svydesign(id = ~1, strata = ~half, fpc = ~p, data = ep, pps = "overton")),
  probs = stats(svydesign(id = ~1, probs = ~p, data = ep)),
  # Brewer's designs calibrated to the county count and the total votes (GREG residuals in the variance)
  brewer_cal = stats(calibrate(svydesign(id = ~1, fpc = ~p, data = ep, pps = "brewer"), ~votes, cal_totals)),
  brewer_strat_cal = stats(calibrate(svydesign(id = ~1, strata = ~half, fpc = ~p, data = ep, pps = "brewer"),
                                     ~votes, cal_totals)),
  cal_totals = num(cal_totals),
  hr_p2_value = sum(election$p^2) / 40
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/data/r_pps.json")
