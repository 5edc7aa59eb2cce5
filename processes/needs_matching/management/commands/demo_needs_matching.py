"""Demo households (a few dozen across the villages) and a realistic catalogue of policies and
charitable resources. Runs once: it does nothing when a household exists."""
import random
from decimal import Decimal

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from ...models import Household, Member, Resource

BELOW = {"fact": "per_capita_income", "op": "lt", "value": 12000, "label": "人均年收入低于12000元（监测线）"}
DIBAO = {"fact": "per_capita_income", "op": "lt", "value": 7800, "label": "人均年收入低于低保标准7800元"}
RESIDENT = {"fact": "resident", "op": "eq", "value": True, "label": "本乡镇户籍"}
CATALOGUE = [
    ("最低生活保障（低保）", "policy", "乡镇民政办", "", ["other", "medical_aid"], [DIBAO, RESIDENT], 40),
    ("临时救助", "policy", "乡镇民政办", "", ["temporary_care", "medical_aid", "housing"], [BELOW, RESIDENT], 60000),
    ("教育资助（义务教育阶段）", "policy", "县教育局", "prov-edu", ["education"],
     [BELOW, {"fact": "age", "op": "gte", "value": 6, "label": "年满6岁"}, {"fact": "age", "op": "lte", "value": 18, "label": "不满19岁"},
      {"fact": "school_enrolled", "op": "eq", "value": True, "label": "在校就读"}], 30),
    ("医疗救助", "policy", "县医保局", "", ["medical_aid"], [BELOW], 80000),
    ("残疾人两项补贴", "policy", "县残联", "prov-dpf", ["assistive_devices", "other"],
     [{"fact": "disability_certificate", "op": "eq", "value": True, "label": "持有残疾证"}], 25),
    ("辅具适配服务", "social", "县残联", "prov-dpf", ["assistive_devices"],
     [{"fact": "disability_certificate", "op": "eq", "value": True, "label": "持有残疾证"}], 15),
    ("基金会大病医疗援助", "social", "县慈善会", "", ["medical_aid"], [BELOW], 50000),
    ("服装厂居家就业岗位", "social", "东山服装厂", "", ["employment", "job_training"],
     [{"fact": "age", "op": "gte", "value": 18, "label": "年满18岁"}, {"fact": "age", "op": "lte", "value": 60, "label": "不超过60岁"}], 12),
    ("电商技能培训", "policy", "县人社局", "", ["job_training", "employment"], [{"fact": "age", "op": "gte", "value": 16, "label": "年满16岁"}], 40),
    ("心理疏导志愿服务", "social", "阳光社工服务中心", "", ["psychological"], [], 20),
    ("留守儿童临时照料", "social", "妇联儿童之家", "", ["temporary_care"], [{"fact": "age", "op": "lte", "value": 14, "label": "14岁以下"}], 10),
]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
COUNTED_IN_YUAN = {"临时救助", "医疗救助", "基金会大病医疗援助"}


class Command(BaseCommand):
    help = "Create demo households and a resource catalogue (only into an empty catalogue)."

    @transaction.atomic
    def handle(self, *args, **options):
        if Household.objects.exists():
            self.stdout.write("Demo needs matching: households exist already, none added.")
            return
        for name, kind, provider, group, categories, rules, capacity in CATALOGUE:
            if group:
                Group.objects.get_or_create(name=group)
            resource = Resource(name=name, kind=kind, provider=provider, provider_group=group, categories=categories, rules=rules,
                                capacity_left=Decimal(capacity), capacity_total=Decimal(capacity),
                                capacity_unit="yuan" if name in COUNTED_IN_YUAN else "places")
            resource.full_clean()
            resource.save()
        from django.contrib.auth import get_user_model

        for username, group in (("edu_office", "prov-edu"), ("dpf_office", "prov-dpf")):
            user = get_user_model().objects.filter(username=username).first()
            if user is not None:
                user.groups.add(Group.objects.get(name=group))
        rng = random.Random(2026)
        villages = ["dongshan", "xishui", "nanling", "beipo", "zhongxin", "hetang", "qingshi"]
        for number in range(36):
            village = villages[number % len(villages)]
            surname = SURNAMES[number % len(SURNAMES)]
            size = rng.randint(1, 5)
            household = Household.objects.create(
                code=f"HH-{village[:2].upper()}-{number + 1:03d}", village=village, head_name=f"{surname}某某",
                annual_income=Decimal(rng.randrange(4000, 16000) * size), medical_expenses=Decimal(rng.choice([0, 3000, 12000, 30000])),
                schooling_expenses=Decimal(rng.choice([0, 1500, 6000])), benefits=rng.choice([[], [], ["dibao"], ["temporary_relief"]]),
                risk_flags=rng.sample(["illness", "schooling", "disaster"], rng.randint(0, 2)), resident=rng.random() > 0.05,
            )
            Member.objects.create(household=household, name=f"{surname}某某", relation="户主", age=rng.randint(30, 75), sex="male",
                                  disability_certificate=rng.random() < 0.2, chronic_illness=rng.random() < 0.3)
            for index in range(size - 1):
                age = rng.randint(3, 80)
                Member.objects.create(household=household, name=f"{surname}{'小大老'[index % 3]}{index + 1}", relation="家庭成员", age=age,
                                      sex=rng.choice(["male", "female"]), school_enrolled=6 <= age <= 18 and rng.random() > 0.1,
                                      employed=18 < age < 60 and rng.random() > 0.4)
        self.stdout.write(f"Demo needs matching: 36 households, {len(CATALOGUE)} resources.")
