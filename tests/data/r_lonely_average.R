# lonely_psu = "average" in models, tests of association and t tests (R survey 4.1-1):
# apistrat with one high school left, so stratum H has a single PSU.
# Rscript tests/data/r_lonely_average.R tests/data/apistrat.csv tests/data/r_lonely_average.json
suppressMessages({library(survey); library(jsonlite)})
args <- commandArgs(TRUE)
api <- read.csv(args[1], stringsAsFactors = TRUE)
api <- api[api$stype != "H" | seq_len(nrow(api)) == which(api$stype == "H")[1], ]
options(survey.lonely.psu = "average")
d <- svydesign(id = ~1, strata = ~stype, weights = ~pw, data = api)
m <- svyglm(api00 ~ ell, d)
md <- svyglm(api00 ~ ell, subset(d, sch.wide == "No"))
ch <- svychisq(~sch.wide + awards, d)
cw <- svychisq(~sch.wide + awards, d, statistic = "Wald")
tt <- svyttest(api00 ~ sch.wide, d)
out <- list(
  glm = list(coef = unname(coef(m)), se = unname(SE(m))),
  glm_domain = list(coef = unname(coef(md)), se = unname(SE(md))),
  chisq_F = list(statistic = unname(ch$statistic), ndf = unname(ch$parameter[1]), ddf = unname(ch$parameter[2]),
                 p = unname(ch$p.value)),
  chisq_Wald = list(statistic = unname(cw$statistic), p = unname(cw$p.value)),
  ttest = list(estimate = unname(tt$estimate), statistic = unname(tt$statistic), p = unname(tt$p.value)),
  mean_se = unname(SE(svymean(~api00, d))))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), args[2])
