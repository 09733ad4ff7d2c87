"""Demo-mode reply texts of the fake upstream, chosen deterministically from the user's words."""

# ruff: noqa: RUF001 (Chinese text uses full-width punctuation on purpose)

import hashlib

from conversations.fake_upstream.text import has_cjk

ENGLISH_REPLIES = (
    """*(Demo reply — no model is connected yet.)* Here's a friendly project update you can adapt:

**Subject: Website refresh — week 3 update ✅**

Hi team,

Quick summary of where we are:

- **Design:** the new homepage and pricing page are signed off. Thanks, Priya!
- **Content:** 14 of 20 product pages are rewritten; the rest land by Thursday.
- **Engineering:** the staging site is live, and page load time dropped from 3.1 s to 1.4 s.
- **Risks:** the translation vendor needs our final copy by the 12th, so content is now on the
  critical path.

**Next steps**

1. Review the staging site and leave comments in the shared doc by Wednesday.
2. Marketing confirms the launch date with sales.
3. We run a short accessibility check before go-live.

Thanks for all the great work so far — we're on track for the end of the month.

Best,
Alex""",
    """*(Demo reply — simulated for this demo.)* Choosing the right meeting format saves everyone
time. Here's a quick comparison:

| Format | Best for | Typical length | Watch out for |
|---|---|---|---|
| Stand-up | Daily coordination, blockers | 10–15 min | Turning into status theatre |
| Workshop | Solving one hard problem together | 60–90 min | No clear owner for the outcome |
| Async doc | Decisions that need careful thought | 1–2 days | Silence mistaken for agreement |
| One-on-one | Feedback, growth, trust | 30 min | Cancelling it when things get busy |

**A simple rule of thumb:** if the goal is *sharing* information, write it down; if the goal
is *deciding* something contentious, meet — and send the decision in writing afterwards.

Would you like a template agenda for any of these?""",
    """*(Demo reply — this is a simulated answer.)* Here's a small Python script that removes
duplicate contacts from a CSV file, keeping the first row for each email address:

```python
import csv
from pathlib import Path


def dedupe_contacts(source: Path, target: Path) -> int:
    \"\"\"Copy source to target without repeated emails; return how many rows were dropped.\"\"\"
    seen: set[str] = set()
    dropped = 0
    with source.open(newline="") as src, target.open("w", newline="") as dst:
        reader = csv.DictReader(src)
        writer = csv.DictWriter(dst, fieldnames=reader.fieldnames)
        writer.writeheader()
        for row in reader:
            email = row["email"].strip().lower()
            if email in seen:
                dropped += 1
                continue
            seen.add(email)
            writer.writerow(row)
    return dropped


if __name__ == "__main__":
    print(dedupe_contacts(Path("contacts.csv"), Path("contacts_clean.csv")), "duplicates removed")
```

Emails are compared case-insensitively, so `Ana@Example.com` and `ana@example.com` count as
the same person. Want it to merge the duplicates' phone numbers instead of dropping them?""",
    """*(Demo reply — simulated.)* To see how many customers were active each month, a query
like this works on most SQL databases:

```sql
SELECT
    date_trunc('month', o.created_at) AS month,
    count(DISTINCT o.customer_id)     AS active_customers,
    sum(o.total_amount)               AS revenue
FROM orders AS o
WHERE o.status = 'paid'
  AND o.created_at >= date '2024-01-01'
GROUP BY 1
ORDER BY 1;
```

A few notes:

- `count(DISTINCT ...)` makes sure a customer with five orders is counted once per month.
- Filtering on `status = 'paid'` keeps refunds and abandoned carts out of the numbers.
- On MySQL, replace `date_trunc` with `DATE_FORMAT(o.created_at, '%Y-%m-01')`.

To export the result for a spreadsheet, from the shell:

```bash
psql "$DATABASE_URL" -c "\\copy (SELECT ...) TO 'active_customers.csv' CSV HEADER"
```""",
    """*(Demo reply — no real model behind this one.)* A thought worth keeping on the wall:

> "Simplicity is prerequisite for reliability."
> — Edsger W. Dijkstra

It applies well beyond software. A few ways teams put it into practice:

- **Fewer tools, used well.** One shared task board beats three half-maintained ones.
- **Short documents.** If a proposal needs more than two pages, it's probably two proposals.
- **Boring defaults.** Pick the option your colleagues already understand, unless there's a
  clear reason not to.

Simple doesn't mean easy — it usually takes *more* thought to remove things than to add
them. But the payoff is work that keeps running smoothly when you're on holiday. 🌴""",
    """*(Demo reply — simulated for this demo.)* Here's a first-week onboarding checklist for a
new teammate:

1. **Before day one** — laptop ordered, accounts created, a buddy assigned.
2. **Day one** — a warm welcome, a tour (in person or on video), and lunch with the team.
3. **Day two** — walk through the team's goals for the quarter and where their role fits.
4. **Day three** — pair on a small, real task that ships by the end of the week.
5. **Day four** — meet two or three people from neighbouring teams.
6. **Day five** — a relaxed one-on-one: what was confusing, what was great, what's missing?

**Tips that make a difference**

- Write the checklist down and share it with the newcomer in advance.
- Keep the first task small: finishing something in week one builds confidence.
- Ask them to fix anything outdated they find in the onboarding docs — fresh eyes are
  the best reviewers.

Want me to turn this into a shareable template?""",
)

CHINESE_REPLIES = (
    """*（演示回复：当前未连接真实模型。）* 写好一份周报，其实只需要回答三个问题：

1. **本周完成了什么？** 用结果说话，例如“上线了新版报销流程，审批时间从 3 天缩短到 1 天”。
2. **遇到了什么问题？** 写清楚影响和需要谁的帮助，而不是只写“有困难”。
3. **下周计划做什么？** 列出两到三件最重要的事，并标明预计完成时间。

下面是一个简单的模板：

| 模块 | 内容 | 状态 |
|---|---|---|
| 本周成果 | 完成客户满意度调研，回收问卷 126 份 | ✅ 已完成 |
| 问题与风险 | 数据分析人手不足，报告可能延后两天 | ⚠️ 需支持 |
| 下周计划 | 整理调研结论，与产品团队开会讨论 | 🕒 进行中 |

**小建议：** 周报不是流水账，控制在一屏以内，领导和同事都会更愿意读。""",
    """*（演示回复：这是模拟生成的内容。）* 想定期备份项目文件，可以用下面这段 Shell 脚本：

```bash
#!/usr/bin/env bash
set -euo pipefail

SOURCE="$HOME/projects"
TARGET="/mnt/backup/projects-$(date +%Y%m%d).tar.gz"

tar -czf "$TARGET" -C "$SOURCE" .
find /mnt/backup -name 'projects-*.tar.gz' -mtime +30 -delete
echo "备份完成：$TARGET"
```

说明如下：

- `set -euo pipefail` 让脚本在出错时立即停止，避免生成不完整的备份。
- 文件名带上日期，方便按天查找和恢复。
- `find ... -mtime +30 -delete` 会自动清理 30 天前的旧备份，节省磁盘空间。

配合 `crontab -e` 添加一行 `0 2 * * * /usr/local/bin/backup.sh`，就能每天凌晨两点自动运行。""",
    """*（演示回复：模拟回答，仅供体验。）* 开始一个新项目时，不妨记住这句话：

> 千里之行，始于足下。
> —— 老子《道德经》

落到日常工作中，可以这样做：

- **先做最小可用的版本。** 与其花一个月写完美的方案，不如用一周做出能演示的雏形。
- **把大目标拆成小步骤。** 每一步都能在一两天内完成，进度一目了然。
- **及时复盘。** 每完成一个阶段，花十分钟想想哪些做法值得保留、哪些需要改进。

坚持下去，你会发现再大的项目，也是由一个个小小的进展积累而成的。祝工作顺利！🚀""",
)

ENGLISH_REASONING = (
    "**Understanding the request**\n\nThe user wants a clear, practical answer. I'll start "
    "with the key points, then add a concrete example they can reuse, and keep the tone "
    "friendly and brief."
)
CHINESE_REASONING = (
    "**理解问题**\n\n用户希望得到清晰、实用的回答。我先列出要点，再给出一个可以直接使用的示例，"
    "语气保持友好、简洁。"
)


def demo_reply(user_text: str) -> str:
    """A demo reply for these words: Chinese when they contain CJK, stable across processes."""
    pool = CHINESE_REPLIES if has_cjk(user_text) else ENGLISH_REPLIES
    digest = hashlib.sha256(user_text.encode("utf-8")).digest()
    return pool[int.from_bytes(digest[:8], "big") % len(pool)]


def demo_reasoning(user_text: str) -> str:
    return CHINESE_REASONING if has_cjk(user_text) else ENGLISH_REASONING
